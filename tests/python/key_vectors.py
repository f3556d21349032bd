"""The shared key vectors (tests/vectors/keys.json, also read by the C++ and Node tests) and the
reader that turns their typed JSON inputs into Python values. Imported by test_keys.py (the
pure-Python encoder) and test_native_keys.py (the implementation under test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "tests" / "vectors" / "keys.json").read_text("utf-8")
)


def from_input(x: Any, hashable: bool = False) -> Any:
    """Typed JSON input (docs/keys.md, "Vectors") -> the Python value it stands for."""
    if x is None or isinstance(x, (bool, str, int)):
        return x
    ((kind, v),) = x.items()
    if kind == "int":
        return int(v)
    if kind == "float":
        return float(v)
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
