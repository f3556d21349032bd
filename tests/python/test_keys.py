"""Tests for the pure-Python key encoder (python/twincache/_keys.py): every shared vector in
tests/vectors/keys.json (the C++ and Node tests read the same file), and the Python-only rules
(bool is not int, list == tuple, byte order and memory layout of numpy arrays, errors)."""

from __future__ import annotations

import collections
import enum
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xxhash

from key_vectors import VECTORS, from_input

ROOT = Path(__file__).resolve().parents[2]
KEYS_PATH = ROOT / "python" / "twincache" / "_keys.py"


def _load_keys() -> Any:
    # By path: the package's __init__ may need the native module, this file must not.
    spec = importlib.util.spec_from_file_location("twincache_keys_under_test", KEYS_PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


keys = _load_keys()


def test_the_vectors_file_is_current() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-key-vectors"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


def test_there_are_enough_vectors() -> None:
    assert VECTORS["version"] == 1
    assert len(VECTORS["vectors"]) >= 40


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vector(vector: dict[str, Any]) -> None:
    value = from_input(vector["input"])
    enc = keys.encode(value)
    assert enc.hex() == vector["encoding"]
    assert enc[0] == keys.VERSION == 1
    assert keys.hash128_hex(value) == vector["hash"]
    assert xxhash.xxh3_128_hexdigest(enc) == vector["hash"]


@pytest.mark.parametrize("group", VECTORS["equal"])
def test_equal_group(group: list[Any]) -> None:
    encs = {keys.encode(from_input(x)) for x in group}
    assert len(encs) == 1


@pytest.mark.parametrize("group", VECTORS["distinct"])
def test_distinct_group(group: list[Any]) -> None:
    encs = [keys.encode(from_input(x)) for x in group]
    assert len(set(encs)) == len(encs)


@pytest.mark.parametrize("case", VECTORS["errors"], ids=lambda e: e["name"])
def test_error_inputs_are_refused(case: dict[str, Any]) -> None:
    assert case["code"] == "out_of_range"  # ValueError in Python
    with pytest.raises(ValueError, match="nesting depth must be at most 64"):
        keys.encode(from_input(case["input"]))


def test_xxh3_128_of_every_length_class() -> None:
    cases = VECTORS["xxh3_128"]["cases"]
    assert len(cases) >= 20
    for c in cases:
        n = c["length"]
        data = bytes((i * 7 + n) % 256 if "fill" not in c else c["fill"] for i in range(n))
        assert keys.hash128_hex_of(data) == c["hash"], n
        assert keys.xxh3_128_hex(data) == c["hash"], f"pure Python, length {n}"


def test_hashes_fall_back_to_pure_python_without_xxhash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xxhash", None)  # import xxhash now raises ImportError
    monkeypatch.setattr(keys, "_xxh3_128_hexdigest", None)
    vector = VECTORS["vectors"][-1]
    assert keys.hash128_hex(from_input(vector["input"])) == vector["hash"]
    assert keys._xxh3_128_hexdigest is keys.xxh3_128_hex


# --- Python-only rules --------------------------------------------------------------------------


def test_bool_is_not_int_although_python_says_true_equals_1() -> None:
    assert True == 1  # the divergence documented in docs/keys.md
    assert keys.encode(True) != keys.encode(1)
    assert keys.encode(False) != keys.encode(0)
    assert keys.encode(np.bool_(True)) == keys.encode(True)


def test_integral_floats_meet_ints() -> None:
    assert keys.encode(1.0) == keys.encode(1)
    assert keys.encode(-0.0) == keys.encode(0)
    assert keys.encode(2.0**70) == keys.encode(2**70)
    assert keys.encode(-(2.0**1000)) == keys.encode(-(2**1000))
    assert keys.encode(0.5) != keys.encode(0)
    assert keys.encode(float("nan")) == keys.encode(-float("nan"))


def test_subclasses_encode_as_their_base() -> None:
    class Color(enum.IntEnum):
        RED = 3

    Point = collections.namedtuple("Point", "x y")
    assert keys.encode(Color.RED) == keys.encode(3)
    assert keys.encode(Point(1, 2)) == keys.encode([1, 2])
    assert keys.encode(collections.OrderedDict(b=1, a=2)) == keys.encode({"a": 2, "b": 1})
    assert keys.encode(collections.defaultdict(int, a=1)) == keys.encode({"a": 1})


def test_bytes_like_values_are_bytes() -> None:
    data = b"\x00abc\xff"
    assert keys.encode(bytearray(data)) == keys.encode(data)
    assert keys.encode(memoryview(data)) == keys.encode(data)
    assert keys.encode(memoryview(b"0123456789")[::2]) == keys.encode(b"02468")
    raw = b"\x01\x00\x02\x00"
    assert keys.encode(memoryview(raw).cast("H")) == keys.encode(raw)
    assert keys.encode(data) != keys.encode(data.decode("latin-1"))


def test_sets_and_frozensets_and_dict_orders() -> None:
    assert keys.encode({1, 2, 3}) == keys.encode(frozenset([3, 2, 1]))
    d1 = {str(i): i for i in range(100)}
    d2 = dict(reversed(list(d1.items())))
    assert keys.encode(d1) == keys.encode(d2)
    # Two distinct NaN objects are two elements to Python, one to the key.
    assert keys.encode({float("nan"), float("nan")}) == keys.encode({float("nan")})


def test_numpy_arrays_are_keyed_by_dtype_shape_and_c_order_bytes() -> None:
    a = np.arange(6, dtype="<f8").reshape(2, 3)
    assert keys.encode(a) == keys.encode(np.asfortranarray(a))
    assert keys.encode(a) == keys.encode(a.astype(">f8"))  # byte order is normalized
    assert keys.encode(a.T) == keys.encode(np.ascontiguousarray(a.T))
    assert keys.encode(a) != keys.encode(a.T)
    assert keys.encode(a) != keys.encode(a.reshape(3, 2))
    assert keys.encode(a) != keys.encode(a.astype("<f4"))
    big = np.arange(10, dtype="<i4")[::3]  # strided view
    assert keys.encode(big) == keys.encode(np.array([0, 3, 6, 9], dtype="<i4"))
    enc = keys.encode(np.zeros(3, dtype=np.uint8))
    assert enc.startswith(bytes([1, 0x0B, 3]) + b"|u1")
    assert keys.encode(np.zeros(3, dtype=np.uint8)) != keys.encode(bytes(3))


def test_numpy_scalars_are_the_python_values_they_equal() -> None:
    assert keys.encode(np.int64(5)) == keys.encode(5)
    assert keys.encode(np.uint64(2**64 - 1)) == keys.encode(2**64 - 1)
    assert keys.encode(np.float32(1.5)) == keys.encode(1.5)
    assert keys.encode(np.float64(2.0)) == keys.encode(2)
    assert keys.encode(np.str_("a")) == keys.encode("a")


@pytest.mark.parametrize(
    "value",
    [
        np.array([object()], dtype=object),
        np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
    ],
    ids=["object", "structured"],
)
def test_numpy_arrays_without_canonical_bytes_are_type_errors(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot build a key from a numpy array of dtype"):
        keys.encode(value)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (lambda: 1, "function"),
        (object(), "object"),
        (1 + 2j, "complex"),
        ([1, {"a": [object()]}], "object"),
        (collections.deque([1]), "collections.deque"),
        (np.complex128(1j), "numpy.complex128"),
    ],
)
def test_unkeyable_values_are_type_errors_naming_the_type(value: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=f"cannot build a key from a value of type '{type_name}'"):
        keys.encode(value)


def test_lone_surrogates_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"lone surrogate U\+D800 at index 2"):
        keys.encode(["ok", "ab\ud800"])
    paired = "\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16")
    assert keys.encode("\U0001f600") == keys.encode(paired) == bytes.fromhex("010604f09f9880")


def test_cycles_and_deep_nesting_stop_at_the_depth_cap() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="nesting depth must be at most 64"):
        keys.encode(cyclic)
    d: dict[str, Any] = {}
    d["self"] = d
    with pytest.raises(ValueError, match="nesting depth must be at most 64"):
        keys.encode(d)
    ok: Any = []
    for _ in range(63):
        ok = [ok]
    assert len(keys.encode(ok)) == 1 + 2 * 64


def test_numpy_is_not_imported_for_plain_values() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('k', {str(KEYS_PATH)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "m.encode([1, 'a', {'b': {2.5}}, b'x'])\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
