"""Content keys: the implementation under test (the core's key_builder through the native
module, or twincache._keys in pure mode) encodes every shared vector (tests/vectors/keys.json,
also read by the C++ and Node tests) byte for byte, and agrees with twincache._keys elsewhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from key_vectors import VECTORS, from_input
from twincache import _keys
from twincache._backend import impl


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
