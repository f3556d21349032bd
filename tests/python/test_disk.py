"""DiskCache and the disk backend of @cache: the mapping API, persistence across instances and
processes, TTL on an injected clock, the byte budget, bad input, integrity (a tampered entry is a
miss that never reaches pickle), the directory checks and memory fallback, function keys
(content of arguments, the function's source), and a clean exit while disk refreshes write.
Runs native and TWINCACHE_PURE=1."""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import twincache
from disk_helpers import DiskClock
from twincache import DiskCache, _disk


def test_implementation_follows_the_mode() -> None:
    assert _disk.native == (os.environ.get("TWINCACHE_PURE", "") in ("", "0"))


def test_mapping_api(cache_dir: Path) -> None:
    c = DiskCache(cache_dir)
    assert c.persistent
    assert c.path == str(cache_dir)
    c["a"] = {"x": [1, 2, 3]}
    c[("tuple", 1)] = b"bytes"
    c[42] = None
    assert c["a"] == {"x": [1, 2, 3]}
    assert c[("tuple", 1)] == b"bytes"
    assert c[42] is None  # None is a value, not a miss
    assert 42 in c and "nope" not in c
    assert c.get("nope", "dflt") == "dflt"
    assert len(c) == 3
    assert sorted(map(repr, c)) == sorted(map(repr, ["a", ("tuple", 1), 42]))
    with pytest.raises(KeyError):
        c["nope"]
    assert c.pop("a") == {"x": [1, 2, 3]}
    assert c.pop("a", "gone") == "gone"
    with pytest.raises(KeyError):
        del c["a"]
    del c[42]
    assert len(c) == 1
    assert c.setdefault("s", 5) == 5 and c.setdefault("s", 6) == 5
    c.clear()
    assert len(c) == 0
    s = c.stats()
    for name in ("hits", "misses", "evictions", "expirations", "items", "bytes"):
        assert name in s
    assert s["items"] == 0 and s["bytes"] == 0


def test_values_survive_a_new_instance_and_another_process(cache_dir: Path) -> None:
    c = DiskCache(cache_dir)
    big = list(range(100_000))  # compressed on disk
    c["big"] = big
    c["text"] = "héllo"
    c.flush()  # the native store commits in the background: make it visible now
    again = DiskCache(cache_dir)
    assert again["big"] == big
    code = textwrap.dedent(f"""
        import twincache._disk as d
        c = d.DiskCache({str(cache_dir)!r})
        assert c["text"] == "héllo", c.get("text")
        assert c["big"][-1] == 99_999
        c["from child"] = [1, 2]
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ), cwd="/")
    assert c["from child"] == [1, 2]


def test_json_codec_stores_json(cache_dir: Path) -> None:
    c = DiskCache(cache_dir, codec="json")
    c["k"] = {"a": [1, 2.5, "x", None, True]}
    assert c["k"] == {"a": [1, 2.5, "x", None, True]}
    c.flush()
    row = sqlite3.connect(cache_dir / "cache.db").execute("SELECT codec, value FROM entries")
    codec, value = row.fetchone()
    assert codec == 2 and value == b'{"a":[1,2.5,"x",null,true]}'
    with pytest.raises(TypeError, match="codec='json'"):
        c["bad"] = {1, 2}
    assert "bad" not in c


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({1: 2}, "dict keys must be str, got int 1"),
        ({1: "a", "1": "b"}, "dict keys must be str, got int 1"),
        ({"a": [{None: 0}]}, "dict keys must be str, got NoneType None"),
        ({(1, 2): 0}, "keys must be str, int, float, bool or None, not tuple"),
        (float("nan"), "Out of range float values are not JSON compliant"),
        ([1.0, float("inf")], "Out of range float values are not JSON compliant"),
        ({"s": {1, 2}}, "Object of type set is not JSON serializable"),
    ],
)
def test_json_codec_refuses_what_it_would_change(cache_dir: Path, value: object, why: str) -> None:
    # Regression: json.dumps turned {1: 2} into {"1": 2} (and {1: 'a', '1': 'b'} into one item)
    # without a word; docs/persistence.md promises a TypeError naming the codec.
    c = DiskCache(cache_dir, codec="json")
    c["k"] = "before"
    with pytest.raises(TypeError) as info:
        c["k"] = value
    assert str(info.value).startswith(f"codec='json' cannot store this {type(value).__name__} (")
    assert why in str(info.value) and str(info.value).endswith("; use codec='pickle'")
    assert c["k"] == "before"  # nothing was written
    c.flush()
    assert DiskCache(cache_dir, codec="json")["k"] == "before"


def test_ttl_on_an_injected_clock(cache_dir: Path, disk_clock: DiskClock) -> None:
    c = DiskCache(cache_dir, ttl=10)
    c["default"] = 1
    c.set("short", 2, ttl=1)
    DiskCache(cache_dir)["forever"] = 0  # no default TTL there
    disk_clock.advance(0.999)
    assert c["short"] == 2
    disk_clock.advance(0.001)
    assert "short" not in c and c.get("short") is None
    disk_clock.advance(9)
    assert c.get("default") is None
    c.flush()
    other = DiskCache(cache_dir)  # expiry is on disk, not in the instance
    assert other.get("default") is None and other.get("short") is None
    assert list(other) == ["forever"] and len(other) == 1
    # Found expired on disk and removed: by c (pure: committed at once) or by other (native).
    assert c.stats()["expirations"] + other.stats()["expirations"] == 2


def test_byte_budget(cache_dir: Path) -> None:
    c = DiskCache(cache_dir, max_bytes=50_000)
    rng = np.random.default_rng(1)
    for i in range(200):
        c[i] = rng.bytes(1000)  # incompressible
    s = c.stats()
    assert s["bytes"] <= 50_000
    assert s["evictions"] > 100
    assert c.get(199) is not None
    with pytest.raises(ValueError, match="max_bytes"):
        c["huge"] = b"x" * 60_000
    assert "huge" not in c and c.stats()["bytes"] == s["bytes"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_bytes": -5}, ValueError, "max_bytes must be"),
        ({"max_bytes": "x"}, TypeError, "max_bytes must be"),
        ({"ttl": 0}, ValueError, "ttl must be"),
        ({"ttl": float("nan")}, ValueError, "ttl must be"),
        ({"ttl": "1"}, TypeError, "ttl must be"),
        ({"codec": "xml"}, ValueError, "codec must be"),
        ({"codec": 1}, TypeError, "codec must be"),
        ({"path": 5}, TypeError, "path must be"),
    ],
)
def test_bad_options(cache_dir: Path, kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DiskCache(**{"path": cache_dir, **kwargs})
    assert not cache_dir.exists()  # nothing created


def test_bad_keys_and_ttls_change_nothing(cache_dir: Path) -> None:
    c = DiskCache(cache_dir)
    with pytest.raises(TypeError, match="cannot be stored on disk"):
        c[object()] = 1
    with pytest.raises(ValueError, match="ttl must be"):
        c.set("k", 1, ttl=-1)
    assert len(c) == 0


class _Boom:
    """Unpickling this calls _record_unpickle: the marker of a payload reaching pickle."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_record_unpickle, ())


_unpickled: list[int] = []


def _record_unpickle() -> str:
    _unpickled.append(1)
    return "executed"


def test_tampered_entries_never_reach_pickle(cache_dir: Path) -> None:
    c = DiskCache(cache_dir)
    c["victim"] = "harmless"
    c["other"] = "fine"
    c.flush()
    key = _disk._encode_key("victim")
    db = sqlite3.connect(cache_dir / "cache.db")
    db.execute("UPDATE entries SET value = ? WHERE key = ?", (pickle.dumps(_Boom()), key))
    db.commit()
    db.close()
    fresh = DiskCache(cache_dir)
    assert fresh.get("victim") is None
    assert _unpickled == []
    assert fresh.stats()["corrupt"] == 1
    assert "victim" not in fresh  # deleted
    assert fresh["other"] == "fine"
    # A forged entry with a made-up HMAC is refused the same way.
    db = sqlite3.connect(cache_dir / "cache.db")
    db.execute(
        "UPDATE entries SET value = ?, hmac = zeroblob(32) WHERE key = ?",
        (pickle.dumps(_Boom()), _disk._encode_key("other")),
    )
    db.commit()
    db.close()
    assert DiskCache(cache_dir).get("other") is None
    assert _unpickled == []


def test_directory_and_secret_permissions(cache_dir: Path) -> None:
    DiskCache(cache_dir)["k"] = 1
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache_dir / "secret").stat().st_mode) == 0o600
    assert (cache_dir / "secret").stat().st_size == 32
    assert stat.S_IMODE((cache_dir / "cache.db").stat().st_mode) == 0o600


def test_a_symbolic_link_in_place_of_cache_db_is_refused(cache_dir: Path, tmp_path: Path) -> None:
    cache_dir.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    (cache_dir / "cache.db").symlink_to(target)
    with pytest.warns(RuntimeWarning):
        c = DiskCache(cache_dir)
    assert not c.persistent and target.read_bytes() == b""


def test_unusable_directory_warns_once_and_caches_in_memory(cache_dir: Path) -> None:
    cache_dir.mkdir(mode=0o700)
    cache_dir.chmod(0o777)
    with pytest.warns(RuntimeWarning, match="world-writable") as record:
        c = DiskCache(cache_dir)
    assert len(record) == 1
    assert not c.persistent
    c["k"] = [1]
    assert c["k"] == [1] and len(c) == 1 and list(c) == ["k"]
    del c["k"]
    assert "k" not in c
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DiskCache(cache_dir)  # the same directory again: no second warning
    assert not (cache_dir / "cache.db").exists()


def test_default_directory_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINCACHE_DIR", str(tmp_path / "env"))
    assert _disk.default_directory() == str(tmp_path / "env")
    assert DiskCache().path == str(tmp_path / "env")
    monkeypatch.delenv("TWINCACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _disk.default_directory() == str(tmp_path / "xdg" / "twincache")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _disk.default_directory() == str(tmp_path / "home" / ".cache" / "twincache")


def test_two_instances_stay_coherent(cache_dir: Path) -> None:
    a = DiskCache(cache_dir)
    b = DiskCache(cache_dir)
    a["k"] = 1
    a.flush()
    assert a["k"] == 1 and b["k"] == 1  # both have it in memory now
    b["k"] = 2
    b.flush()
    assert a["k"] == 2
    del b["k"]
    assert "k" not in a and a.get("k") is None


def test_memory_tier_hands_out_copies_of_mutable_values(cache_dir: Path) -> None:
    c = DiskCache(cache_dir)
    c["d"] = {"rows": [1, 2]}
    first = c["d"]  # served by the memory tier
    first["rows"].append(3)
    assert c["d"] == {"rows": [1, 2]} and c["d"] is not c["d"]
    c.flush()
    again = DiskCache(cache_dir)
    got = again["d"]  # read from disk, then kept in memory
    got["rows"].clear()
    assert again["d"] == {"rows": [1, 2]} and again.get("d") == {"rows": [1, 2]}
    # Immutable values may be shared: the same value, whichever tier serves it.
    c["t"] = ("x", 1, frozenset({2.5}), b"\x00")
    c.flush()
    assert c["t"] == again["t"] == ("x", 1, frozenset({2.5}), b"\x00")


def test_memory_tier_sees_writes_of_other_instances_and_processes(cache_dir: Path) -> None:
    a = DiskCache(cache_dir)
    b = DiskCache(cache_dir)
    a["s"] = "one"
    a["t"] = (1, "one")
    a.flush()
    assert a["s"] == b["s"] == "one" and a["t"] == b["t"] == (1, "one")  # both in memory now
    b["s"] = "two"
    b.flush()
    assert a["s"] == "two" and a["t"] == (1, "one")
    code = textwrap.dedent(f"""
        import twincache._disk as d
        c = d.DiskCache({str(cache_dir)!r})
        c["t"] = (2, "two")
        del c["s"]
        c.flush()
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ), cwd="/")
    assert a["t"] == b["t"] == (2, "two")
    assert a.get("s") is None and b.get("s", 0) == 0
    with pytest.raises(KeyError):
        a["s"]


def test_memory_tier_keeps_the_codec_s_types(cache_dir: Path) -> None:
    c = DiskCache(cache_dir, codec="json")
    c["t"] = (1, "a")
    assert c["t"] == [1, "a"] and type(c["t"]) is list  # as JSON gives it back from disk
    c["s"] = "text"
    assert c["s"] == "text"
    # str keys and the int key of the same digits are different entries.
    c["1"] = "str key"
    c[1] = "int key"
    assert c["1"] == "str key" and c[1] == "int key"
    assert c.get(1.0) == "int key"  # 1.0 and 1 share an encoding (docs/keys.md)


def _writer(path: str, n: int, tag: int) -> None:
    c = DiskCache(path)
    for i in range(n):
        c[f"{tag}-{i}"] = [tag, i]
        c["shared"] = tag
        v = c.get(f"{tag}-0")
        assert v == [tag, 0]


def test_processes_writing_at_once(cache_dir: Path) -> None:
    import multiprocessing

    DiskCache(cache_dir)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(cache_dir), 100, t)) for t in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    c = DiskCache(cache_dir)
    assert len(c) == 401
    assert all(c[f"{t}-99"] == [t, 99] for t in range(4))
    assert c["shared"] in range(4)
    assert c.info()["sets"] == 800


# --- functions ------------------------------------------------------------------------------------


def test_disk_function_hits_across_instances_and_keys_by_content(cache_dir: Path) -> None:
    calls: list[Any] = []

    def f(a: Any, *, scale: int = 1) -> Any:
        calls.append(a)
        return np.asarray(a) * scale

    g = twincache.cache(backend="disk", path=cache_dir)(f)
    assert g.persistent
    np.testing.assert_array_equal(g(np.arange(5), scale=2), np.arange(5) * 2)
    np.testing.assert_array_equal(g(np.arange(5), scale=2), np.arange(5) * 2)  # same content
    g([1, 2, 3])
    g([1, 2, 3])
    assert len(calls) == 2
    g(np.arange(6), scale=2)
    assert len(calls) == 3
    # A new decorator over the same function (another process would do the same): hits.
    g.flush()
    h = twincache.cache(backend="disk", path=cache_dir)(f)
    h([1, 2, 3])
    assert len(calls) == 3
    assert h.stats()["hits"] == 1 and g.stats()["hits"] == 2
    assert g.invalidate([1, 2, 3])
    g([1, 2, 3])
    assert len(calls) == 4
    # cache_clear() removes this function's entries and nothing else in the directory.
    other = DiskCache(cache_dir)
    other["unrelated"] = 1
    assert g.cache_clear() == 3
    assert other["unrelated"] == 1
    g([1, 2, 3])
    assert len(calls) == 5


def test_pandas_arguments_are_keyed_by_content(cache_dir: Path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is in scripts/requirements-dev.txt")
    calls: list[int] = []

    @twincache.cache(backend="disk", path=cache_dir)
    def total(df: Any) -> float:
        calls.append(1)
        return float(df.to_numpy().sum())

    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})
    assert total(df) == 10.5
    assert total(df.copy()) == 10.5
    assert len(calls) == 1
    changed = df.copy()
    changed.loc[2, "b"] = 9.0
    assert total(changed) == 17.0
    assert total(df.rename(columns={"b": "c"})) == 10.5
    assert len(calls) == 3


def test_async_functions(cache_dir: Path) -> None:
    calls: list[int] = []

    @twincache.cache(backend="disk", path=cache_dir)
    async def slow(x: int) -> int:
        calls.append(x)
        return x * 2

    assert asyncio.run(slow(3)) == 6
    assert asyncio.run(slow(3)) == 6
    assert calls == [3]


_MODULE = """
import os, twincache

@twincache.cache(backend="disk", path=os.environ["CACHE"])
def work(x):
    {body}
    with open(os.environ["COUNTER"], "a") as f:
        f.write("x")
    return x + 1
"""


def _run_module(tmp_path: Path, body: str, cache_dir: Path) -> int:
    mod = tmp_path / "mod_work.py"
    mod.write_text(_MODULE.format(body=body))
    counter = tmp_path / "counter"
    env = dict(os.environ, CACHE=str(cache_dir), COUNTER=str(counter), PYTHONPATH=str(tmp_path))
    code = "import mod_work; assert mod_work.work(41) == 42"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd="/")
    return len(counter.read_text()) if counter.exists() else 0


def test_editing_a_function_stops_old_entries_comments_do_not(
    tmp_path: Path, cache_dir: Path
) -> None:
    assert _run_module(tmp_path, "y = 1", cache_dir) == 1
    assert _run_module(tmp_path, "y = 1", cache_dir) == 1  # another process: a hit
    # Comments and whitespace are not the function's code.
    assert _run_module(tmp_path, "y  =  1   # a comment", cache_dir) == 1
    assert _run_module(tmp_path, "y = 2", cache_dir) == 2  # edited: runs again
    assert _run_module(tmp_path, "y = 2", cache_dir) == 2


def test_source_hash_ignores_comments_and_decorators() -> None:
    ns: dict[str, Any] = {}
    a = "def f(x):\n    return x + 1\n"
    b = "def f(x):  # comment\n\n    return  x+1\n"
    c = "def f(x):\n    return x + 2\n"
    hashes = []
    for i, src in enumerate((a, b, c)):
        file = Path(f"/tmp/twincache_src_{os.getpid()}_{i}.py")
        file.write_text(src)
        try:
            exec(compile(src, str(file), "exec"), ns)
            hashes.append(_disk.source_hash(ns["f"]))
        finally:
            file.unlink()
    assert hashes[0] == hashes[1] != hashes[2]


def test_writes_are_committed_in_the_background(cache_dir: Path) -> None:
    """set() returns before the commit (native store); the writer's own reads see the value at
    once, other instances after flush() (or a few milliseconds), and nothing is lost at exit."""
    a = DiskCache(cache_dir)
    for i in range(200):
        a[i] = i
    assert all(a[i] == i for i in range(200))
    a.flush()
    b = DiskCache(cache_dir)
    assert len(b) == 200 and b[199] == 199
    code = (
        "import twincache._disk as d\n"
        f"c = d.DiskCache({str(cache_dir)!r})\n"
        "for i in range(300): c[('late', i)] = i\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ), cwd="/")
    assert len(b) == 500  # committed by the child before it exited
    assert a.stats()["write_errors"] == 0


def test_decorator_bad_options(cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="ttl must be"):
        twincache.cache(backend="disk", path=cache_dir, ttl=0)
    with pytest.raises(TypeError, match="key must be"):
        twincache.cache(backend="disk", path=cache_dir, key=3)
    g = twincache.cache(backend="disk", path=cache_dir)(lambda x: x)
    with pytest.raises(TypeError, match="cannot key a disk cache entry"):
        g(object())


def test_backend_options_are_checked(cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="backend must be 'memory', 'disk' or 'redis'"):
        twincache.cache(backend="cloud")
    with pytest.raises(TypeError, match="backend must be"):
        twincache.cache(backend=1)
    with pytest.raises(TypeError, match="does not take maxsize, policy"):
        twincache.cache(backend="disk", maxsize=10, policy="lru")
    with pytest.raises(TypeError, match="apply to backend='disk' only"):
        twincache.cache(path=cache_dir)
    with pytest.raises(ValueError, match="codec must be"):
        twincache.cache(backend="disk", path=cache_dir, codec="xml")
    assert not cache_dir.exists()
    calls: list[int] = []

    @twincache.cache(backend="memory", maxsize=4)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == square(3) == 9 and calls == [3]


def test_the_package_exports_the_disk_tier() -> None:
    assert twincache.DiskCache is _disk.DiskCache
    assert "DiskCache" in twincache.__all__
    assert callable(twincache.load_ipython_extension)


def test_disk_warnings_point_at_the_callers_line(cache_dir: Path) -> None:
    # Regression: the warnings used a fixed stacklevel, so some pointed inside twincache.
    cache_dir.mkdir(mode=0o700)
    cache_dir.chmod(0o777)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        DiskCache(cache_dir)
        other = cache_dir.parent / "other"
        other.mkdir(mode=0o700)
        other.chmod(0o777)

        @twincache.cache(backend="disk", path=other)
        def f(x: int) -> int:
            return x

        deco_line = inspect.currentframe().f_lineno - 4  # type: ignore[union-attr]

        @twincache.cache(backend="disk", path=cache_dir.parent / "ok", codec="json")
        def g(x: int) -> object:
            return {x}

        assert g(1) == {1}
        call_line = inspect.currentframe().f_lineno - 1  # type: ignore[union-attr]
    got = [(Path(w.filename).name, w.lineno, str(w.message)[:40]) for w in caught]
    here = Path(__file__).name
    assert [(name, lineno) for name, lineno, _ in got] == [
        (here, line),
        (here, deco_line),
        (here, call_line),
    ], got


# --- reads that are not use, expire(), on_evict (docs/persistence.md, "Freshness and control") ----


def test_peek_and_ttl_of_are_not_use(cache_dir: Path, disk_clock: DiskClock) -> None:
    import math

    c: DiskCache[str, Any] = DiskCache(cache_dir, ttl=10)
    c["a"] = [1, 2]
    c.set("short", "x", ttl=5)
    c.flush()
    before = c.stats()
    assert c.peek("a") == [1, 2] and c.peek("b") is None and c.peek("b", 0) == 0
    assert c.ttl_of("a") == 10.0 and c.ttl_of("b") is None
    disk_clock.advance(4)
    assert c.ttl_of("a") == 6.0
    after = c.stats()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])
    # never-expiring: a cache without a default TTL
    d: DiskCache[str, Any] = DiskCache(cache_dir)
    d["n"] = 1
    d.flush()
    assert d.ttl_of("n") == math.inf
    disk_clock.advance(6)
    assert c.peek("a") is None and c.ttl_of("a") is None  # expired: absent for both
    assert c.expire() == 2 and c.stats()["expirations"] == 2  # "a" and "short"
    assert "a" not in c and list(c) == ["n"]


def test_peek_leaves_the_eviction_order(cache_dir: Path, disk_clock: DiskClock) -> None:
    c: DiskCache[str, bytes] = DiskCache(cache_dir)
    for k in ("old", "mid", "new"):
        c[k] = b"v" * 1000
        c.flush()
        disk_clock.advance(2)  # atime resolution is 1 s
    assert c.peek("old") == b"v" * 1000  # not a use: "old" stays least recently used
    c.flush()
    assert list(c) == ["old", "mid", "new"]
    other: DiskCache[str, bytes] = DiskCache(cache_dir)  # its memory tier is empty
    assert other.get("old") == b"v" * 1000  # a use, as a peek from this handle is not
    other["w"] = b""  # access times are written with the next write (native: batched)
    other.flush()
    assert list(c) == ["mid", "new", "old", "w"]


def test_on_evict_reasons(cache_dir: Path, disk_clock: DiskClock) -> None:
    told: list[tuple[Any, Any, str]] = []
    c: DiskCache[Any, Any] = DiskCache(
        cache_dir, on_evict=lambda k, v, why: told.append((k, v, why))
    )
    c["a"] = 1
    c["a"] = 2  # replaced
    c["b"] = 3
    del c["b"]  # deleted
    assert c.pop("a") == 2  # deleted
    c.set("t", "short", ttl=1)
    disk_clock.advance(1)
    assert c.expire() == 1  # expired
    c.set("r", "read", ttl=1)
    disk_clock.advance(1)
    assert c.get("r") is None  # a read that meets an expired entry removes it: told
    c[("x", 1)] = {"k": 1}
    c["y"] = 4
    c.clear()  # cleared, each
    assert told == [
        ("a", 1, "replaced"),
        ("b", 3, "deleted"),
        ("a", 2, "deleted"),
        ("t", "short", "expired"),
        ("r", "read", "expired"),
        (("x", 1), {"k": 1}, "cleared"),
        ("y", 4, "cleared"),
    ]
    assert not c.pop("gone", None) and len(told) == 7  # nothing removed: nothing told


def test_on_evict_size_culling_by_prune(cache_dir: Path, disk_clock: DiskClock) -> None:
    big: DiskCache[str, bytes] = DiskCache(cache_dir)  # unbounded: fills past the next's budget
    for i in range(6):
        big[f"k{i}"] = bytes([i]) * 1000
        big.flush()
        disk_clock.advance(2)
    told: list[tuple[Any, Any, str]] = []
    small: DiskCache[str, bytes] = DiskCache(
        cache_dir, max_bytes=3500, on_evict=lambda k, v, why: told.append((k, v, why))
    )
    assert small.prune() == 3
    assert told == [(f"k{i}", bytes([i]) * 1000, "evicted") for i in range(3)]
    assert sorted(small) == ["k3", "k4", "k5"]


def test_on_evict_is_reentrant_and_its_errors_do_not_break_the_cache(
    cache_dir: Path, disk_clock: DiskClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def callback(key: Any, value: Any, why: str) -> None:
        seen.append((key, why, c.get(key), len(c)))  # the removal is done: the cache is usable
        if why == "deleted":
            c["after"] = value  # a write from the callback (told as nothing: a fresh key)
        if key == "boom":
            raise RuntimeError("callback failed")

    c: DiskCache[str, Any] = DiskCache(cache_dir, on_evict=callback)
    c["k"] = 1
    del c["k"]
    assert c["after"] == 1
    c["boom"] = 1
    del c["boom"]
    assert [str(u.exc_value) for u in unraisable] == ["callback failed"]
    c["z"] = 2  # still works
    assert c["z"] == 2
    assert seen[0] == ("k", "deleted", None, 0)
    assert seen[1][:2] == ("boom", "deleted")
    with pytest.raises(TypeError, match="on_evict must be a callable or None"):
        DiskCache(cache_dir, on_evict=3)  # type: ignore[arg-type]


def test_a_process_exiting_while_disk_refreshes_write_exits_cleanly(cache_dir: Path) -> None:
    """Daemon refresh workers still writing to the directory while the interpreter finalizes
    (they take the GIL back after a store call) end or park; the process exits with 0 (it
    aborted with 'terminate called without an active exception' before disk_module's
    released_gil)."""
    code = textwrap.dedent(
        f"""
        import threading
        import twincache
        gate = threading.Event()
        gate.set()
        def slow(x):
            gate.wait(60)
            return x
        f = twincache.cache(backend="disk", path={str(cache_dir)!r}, ttl=1e-6, stale=3600)(slow)
        for i in range(6000):
            f(i)
        gate.clear()
        for i in range(6000):
            f(i)  # stale: schedules a refresh, held by the gate
        gate.set()  # the refreshes write while the interpreter exits
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=dict(os.environ), cwd="/", capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
