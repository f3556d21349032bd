"""Content keys: the implementation under test (the core's key_builder through the native
module, or twincache._keys in pure mode) encodes every shared vector (tests/vectors/keys.json,
also read by the C++ and Node tests) byte for byte, and agrees with twincache._keys elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twincache import _keys
from twincache._backend import impl

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "tests" / "vectors" / "keys.json").read_text("utf-8")
)


def from_input(x: Any, hashable: bool = False) -> Any:
    """Typed JSON input (docs/keys.md, "Vectors") -> the Python value it stands for."""
    if x is None or isinstance(x, (bool, str, int)):
        return x
    ((kind, v),) = x.items()
    if kind in ("int", "float"):
        return int(v) if kind == "int" else float(v)
    if kind == "str":
        return v
    if kind == "bytes":
        return bytes.fromhex(v)
    if kind == "list":
        return tuple(from_input(e, True) for e in v) if hashable else [from_input(e) for e in v]
    if kind == "tuple":
        return tuple(from_input(e, hashable) for e in v)
    if kind == "map":
        return {from_input(k, True): from_input(e) for k, e in v}
    if kind == "set":
        items = [from_input(e, True) for e in v]
        return frozenset(items) if hashable else set(items)
    if kind == "buffer":
        a = np.frombuffer(bytes.fromhex(v["hex"]), dtype=np.dtype(v["dtype"]))
        return a.reshape(v["shape"]).copy()
    raise AssertionError(f"unknown typed input {x!r}")


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_every_shared_vector(vector: dict[str, Any]) -> None:
    assert impl.encode_key(from_input(vector["input"])).hex() == vector["encoding"]


@pytest.mark.parametrize("group", VECTORS["equal"])
def test_equal_groups(group: list[Any]) -> None:
    assert len({impl.encode_key(from_input(x)) for x in group}) == 1


@pytest.mark.parametrize("case", VECTORS["errors"], ids=lambda e: e["name"])
def test_error_vectors(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="nesting depth must be at most 64"):
        impl.encode_key(from_input(case["input"]))


class Flag(int):
    pass


MORE_VALUES = [
    2**200,
    -(2**64),
    1e300,
    -0.0,
    float("inf"),
    "ünïcödé ✓ " * 20,
    bytearray(b"abc"),
    memoryview(b"abcdef")[::2],
    {"b": [1, {2, 3}], "a": (None, True)},
    frozenset({1.5, "x"}),
    Flag(5),
    np.arange(6, dtype=">i4").reshape(2, 3),
    np.arange(6, dtype=np.float32)[::2],
    np.float64(2.5),
    np.int16(-3),
    np.bool_(True),
]


@pytest.mark.parametrize("value", MORE_VALUES, ids=lambda v: type(v).__name__)
def test_agrees_with_the_pure_encoder(value: Any) -> None:
    assert impl.encode_key(value) == _keys.encode(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [(object(), TypeError), (np.array([object()]), TypeError), ("a\ud800", ValueError)],
    ids=["object", "object array", "lone surrogate"],
)
def test_refusals_match_the_pure_encoder(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as ours:
        impl.encode_key(value)
    with pytest.raises(error) as reference:
        _keys.encode(value)
    assert str(ours.value) == str(reference.value)
