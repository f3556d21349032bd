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


# Encodings of the small integers, the most common arguments: one slice append each.
_SMALL_INTS = {i: bytes((_INT_NONNEGATIVE, 1, i)) for i in range(1, 0x100)}
_SMALL_INTS.update({-i: bytes((_INT_NEGATIVE, 1, i)) for i in range(1, 0x100)})
_SMALL_INTS[0] = bytes((_INT_NONNEGATIVE, 0))


def _encode_int(v: Any, out: bytearray) -> None:
    v = int(v)  # int subclasses (IntEnum) as the int they equal
    small = _SMALL_INTS.get(v)
    if small is not None:
        out += small
        return
    if v >= 0:
        out.append(_INT_NONNEGATIVE)
        m = v
    else:
        out.append(_INT_NEGATIVE)
        m = -v
    n = (m.bit_length() + 7) >> 3
    out.append(n)  # n < 128 unless |v| >= 2**1016
    if n >= 0x80:
        del out[-1]
        _varint(n, out)
    out += m.to_bytes(n, "big")


def _encode_float(v: Any, out: bytearray) -> None:
    v = float(v)
    if v != v:
        out += _NAN
    elif v.is_integer():  # finite and integral: 1.0 is 1, -0.0 is 0 (inf is not integral)
        _encode_int(int(v), out)
    else:
        out.append(_FLOAT64)
        out += _pack_double(v)


def _encode_str(v: Any, out: bytearray) -> None:
    try:
        b = v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(
            f"key string must be valid Unicode (lone surrogate U+{ord(v[e.start]):04X} at "
            f"index {e.start})"
        ) from None
    n = len(b)
    out.append(_STRING)
    if n < 0x80:
        out.append(n)
    else:
        _varint(n, out)
    out += b


def _encode_bytes(v: Any, out: bytearray) -> None:
    if type(v) is memoryview:
        if v.c_contiguous:
            n = v.nbytes
        else:
            v = v.tobytes()  # its elements in C order
            n = len(v)
    else:
        n = len(v)
    out.append(_BYTES)
    _varint(n, out)
    out += v


def _encode_sorted(tag: int, parts: list[bytearray], out: bytearray) -> None:
    """Writes a map's or set's element encodings sorted bytewise, identical ones once."""
    n = len(parts)
    if n > 1:
        parts.sort()
        unique = [parts[0]]
        for p in parts[1:]:
            if p != unique[-1]:
                unique.append(p)
        parts = unique
        n = len(parts)
    out.append(tag)
    _varint(n, out)
    for p in parts:
        out += p


def _encode_ndarray(v: Any, out: bytearray) -> None:
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


def _encode_numpy_scalar(v: Any, out: bytearray) -> bool:
    """numpy scalars as the Python value they equal; False if `v` is not one we key."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(v, np.generic):
        return False
    if isinstance(v, np.bool_):
        out.append(_TRUE if v else _FALSE)
    elif isinstance(v, np.integer):
        _encode_int(int(v), out)
    elif isinstance(v, np.floating):
        _encode_float(float(v), out)
    else:
        return False
    return True


def _encode(v: Any, out: bytearray, depth: int) -> None:
    # Hot path: exact-type checks for the common types, in order of frequency, then subclasses.
    t = type(v)
    if t is int:
        small = _SMALL_INTS.get(v)
        if small is not None:
            out += small
        else:
            _encode_int(v, out)
    elif t is str:
        if len(v) < 0x80 and v.isascii():
            out.append(_STRING)
            out.append(len(v))
            out += v.encode("ascii")
        else:
            _encode_str(v, out)
    elif t is float:
        _encode_float(v, out)
    elif v is None:
        out.append(_NULL)
    elif t is bool:
        out.append(_TRUE if v else _FALSE)
    elif t is tuple or t is list:
        _encode_list(v, out, depth)
    elif t is dict:
        _encode_map(v, out, depth)
    elif t is set or t is frozenset:
        _encode_set(v, out, depth)
    elif t is bytes or t is bytearray or t is memoryview:
        _encode_bytes(v, out)
    else:
        _encode_other(v, out, depth)


def _encode_list(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    n = len(v)
    out.append(_LIST)
    if n < 0x80:
        out.append(n)
    else:
        _varint(n, out)
    depth += 1
    small_ints = _SMALL_INTS
    for item in v:
        # Inline fast path for the commonest elements: small ints (saves a call per element).
        if type(item) is int:
            small = small_ints.get(item)
            if small is not None:
                out += small
                continue
        _encode(item, out, depth)


def _encode_map(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    depth += 1
    parts = []
    for k, x in v.items():
        if type(k) is str and len(k) < 0x80 and k.isascii():  # inline: the usual kwargs key
            p = bytearray((_STRING, len(k)))
            p += k.encode("ascii")
        else:
            p = bytearray()
            _encode(k, p, depth)
        _encode(x, p, depth)
        parts.append(p)
    _encode_sorted(_MAP, parts, out)


def _encode_set(v: Any, out: bytearray, depth: int) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(_DEPTH_MESSAGE)
    depth += 1
    parts = []
    for x in v:
        p = bytearray()
        _encode(x, p, depth)
        parts.append(p)
    _encode_sorted(_SET, parts, out)


def _encode_other(v: Any, out: bytearray, depth: int) -> None:
    """Subclasses of the keyable types, numpy arrays and scalars; TypeError for the rest."""
    if isinstance(v, bool):
        out.append(_TRUE if v else _FALSE)
    elif isinstance(v, int):
        _encode_int(v, out)
    elif isinstance(v, float):
        _encode_float(v, out)
    elif isinstance(v, str):
        _encode_str(v, out)
    elif isinstance(v, (bytes, bytearray)):
        _encode_bytes(v, out)
    elif isinstance(v, (list, tuple)):
        _encode_list(v, out, depth)
    elif isinstance(v, dict):
        _encode_map(v, out, depth)
    elif isinstance(v, (set, frozenset)):
        _encode_set(v, out, depth)
    else:
        np = sys.modules.get("numpy")
        if np is not None and isinstance(v, np.ndarray):
            _encode_ndarray(v, out)
        elif not _encode_numpy_scalar(v, out):
            raise TypeError(
                f"cannot build a key from a value of type '{_type_name(v)}' (keyable: None, "
                "bool, int, float, str, bytes, bytearray, memoryview, list, tuple, dict, set, "
                "frozenset, numpy arrays and scalars)"
            )


def _type_name(v: Any) -> str:
    t = type(v)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"
