"""Pure-Python key encoder: the canonical key encoding of docs/keys.md and its XXH3-128 hash.

The native extension builds the same bytes with the C++ core's key_builder; this module is what
the pure-Python fallback uses, and what tests/vectors/keys.json is generated from
(scripts/gen-key-vectors). The two must agree byte for byte on every vector.

    encode(value) -> bytes          the key's encoding (version byte first)
    hash128_hex(value) -> str       XXH3-128 of encode(value), 32 hex digits, high half first

Keyed by content: None, bool, int (any size), float, str, bytes / bytearray / memoryview,
list and tuple (the same), dict (order-independent), set and frozenset (order-independent),
numpy arrays (dtype, shape, bytes in C order; numpy is imported only by callers who pass one) and
numpy scalars (as the Python bool, int or float they equal). Anything else raises TypeError
naming its type; pandas objects are not supported yet (TypeError).

Hot path: this runs on every call of a cached function whose arguments are keyed by content in
pure-Python mode, so dispatch is one dict lookup on the exact type, with isinstance() only for
subclasses.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Any

VERSION = 1
MAX_DEPTH = 64

# Tags (docs/keys.md). Frozen: they are part of every stored key.
_NULL = 0x00
_FALSE = 0x01
_TRUE = 0x02
_INT_NONNEGATIVE = 0x03
_INT_NEGATIVE = 0x04
_FLOAT64 = 0x05
_STRING = 0x06
_BYTES = 0x07
_LIST = 0x08
_MAP = 0x09
_SET = 0x0A
_BUFFER = 0x0B

_NAN = bytes([_FLOAT64]) + struct.pack("<d", float("nan"))  # 0x7ff8000000000000, the one NaN
_pack_double = struct.Struct("<d").pack

_DEPTH_MESSAGE = (
    "key nesting depth must be at most 64 containers (got deeper: a cyclic or too deeply "
    "nested argument)"
)


def encode(value: Any) -> bytes:
    """The canonical encoding of `value`: version byte, then the value."""
    out = bytearray(b"\x01")
    _encode(value, out, 0)
    return bytes(out)


def hash128_hex(value: Any) -> str:
    """XXH3-128 of encode(value) as 32 lowercase hex digits, high half first."""
    return hash128_hex_of(encode(value))


def hash128_hex_of(encoding: bytes) -> str:
    """XXH3-128 of raw bytes (an encoding from encode()), as hash128_hex gives it."""
    try:
        import xxhash
    except ImportError as e:  # pragma: no cover - the package depends on xxhash
        raise ImportError("twincache key hashes need the 'xxhash' package") from e
    return xxhash.xxh3_128_hexdigest(encoding)


def _varint(n: int, out: bytearray) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _encode_none(v: Any, out: bytearray, depth: int) -> None:
    out.append(_NULL)


def _encode_bool(v: Any, out: bytearray, depth: int) -> None:
    out.append(_TRUE if v else _FALSE)


def _encode_int(v: Any, out: bytearray, depth: int) -> None:
    v = int(v)  # int subclasses (IntEnum) as the int they equal
    if v >= 0:
        if v < 0x100:  # fast path: tag, length, one byte (or zero bytes for 0)
            out += b"\x03\x00" if v == 0 else bytes((_INT_NONNEGATIVE, 1, v))
            return
        out.append(_INT_NONNEGATIVE)
        m = v
    else:
        out.append(_INT_NEGATIVE)
        m = -v
    n = (m.bit_length() + 7) >> 3
    _varint(n, out)
    out += m.to_bytes(n, "big")


def _encode_float(v: Any, out: bytearray, depth: int) -> None:
    v = float(v)
    if v != v:
        out += _NAN
    elif v.is_integer():  # finite and integral: 1.0 is 1, -0.0 is 0 (inf is not integral)
        _encode_int(int(v), out, depth)
    else:
        out.append(_FLOAT64)
        out += _pack_double(v)


def _encode_str(v: Any, out: bytearray, depth: int) -> None:
    try:
        b = v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"key string must be valid Unicode (lone surrogate U+{ord(v[e.start]):04X} at "
            f"index {e.start})"
        ) from None
    out.append(_STRING)
    _varint(len(b), out)
    out += b


def _encode_bytes(v: Any, out: bytearray, depth: int) -> None:
    if type(v) is memoryview and not v.c_contiguous:
        v = v.tobytes()
    n = v.nbytes if type(v) is memoryview else len(v)
    out.append(_BYTES)
    _varint(n, out)
    out += v


def _encode_list(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    out.append(_LIST)
    _varint(len(v), out)
    depth += 1
    for item in v:
        _encode(item, out, depth)


def _part(v: Any, depth: int) -> bytes:
    part = bytearray()
    _encode(v, part, depth)
    return bytes(part)


def _encode_sorted(tag: int, parts: list[bytes], out: bytearray) -> None:
    parts.sort()
    unique = [p for i, p in enumerate(parts) if i == 0 or p != parts[i - 1]]
    out.append(tag)
    _varint(len(unique), out)
    for p in unique:
        out += p


def _encode_map(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    depth += 1
    _encode_sorted(_MAP, [_part(k, depth) + _part(x, depth) for k, x in v.items()], out)


def _encode_set(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    depth += 1
    _encode_sorted(_SET, [_part(x, depth) for x in v], out)


def _encode_ndarray(v: Any, out: bytearray, depth: int) -> None:
    dtype = v.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise TypeError(
            f"cannot build a key from a numpy array of dtype {dtype!r}: object, structured and "
            "sub-array dtypes have no canonical bytes"
        )
    if dtype.str[0] == ">":  # canonical byte order is little-endian
        v = v.astype(dtype.newbyteorder("<"))
        dtype = v.dtype
    d = dtype.str.encode("ascii")
    data = v.tobytes(order="C")
    out.append(_BUFFER)
    _varint(len(d), out)
    out += d
    _varint(v.ndim, out)
    for n in v.shape:
        _varint(n, out)
    _varint(len(data), out)
    out += data


def _encode_numpy_scalar(v: Any, out: bytearray, depth: int) -> bool:
    """numpy scalars as the Python value they equal; False if `v` is not one we key."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(v, np.generic):
        return False
    if isinstance(v, np.bool_):
        _encode_bool(v, out, depth)
    elif isinstance(v, np.integer):
        _encode_int(int(v), out, depth)
    elif isinstance(v, np.floating):
        _encode_float(float(v), out, depth)
    else:
        return False
    return True


_Encoder = Callable[[Any, bytearray, int], None]

_BY_TYPE: dict[type, _Encoder] = {
    type(None): _encode_none,
    bool: _encode_bool,
    int: _encode_int,
    float: _encode_float,
    str: _encode_str,
    bytes: _encode_bytes,
    bytearray: _encode_bytes,
    memoryview: _encode_bytes,
    list: _encode_list,
    tuple: _encode_list,
    dict: _encode_map,
    set: _encode_set,
    frozenset: _encode_set,
}

# Subclasses, in the order they must be tried (bool before int).
_BY_BASE: tuple[tuple[type, _Encoder], ...] = (
    (bool, _encode_bool),
    (int, _encode_int),
    (float, _encode_float),
    (str, _encode_str),
    (bytes, _encode_bytes),
    (bytearray, _encode_bytes),
    (list, _encode_list),
    (tuple, _encode_list),
    (dict, _encode_map),
    (set, _encode_set),
    (frozenset, _encode_set),
)


def _encode(v: Any, out: bytearray, depth: int) -> None:
    f = _BY_TYPE.get(type(v))
    if f is not None:
        f(v, out, depth)
        return
    for base, g in _BY_BASE:
        if isinstance(v, base):
            g(v, out, depth)
            return
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(v, np.ndarray):
            _encode_ndarray(v, out, depth)
            return
        if _encode_numpy_scalar(v, out, depth):
            return
    t = type(v)
    name = t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
    raise TypeError(
        f"cannot build a key from a value of type '{name}'"
        " (keyable: None, bool, int, float, str, bytes, bytearray, memoryview, list, tuple, "
        "dict, set, frozenset, numpy arrays and scalars)"
    )
